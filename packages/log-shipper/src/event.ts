/** One log event: a line, or several joined (multiline, CRI/docker partial lines). */
export interface LogEvent {
  /** Stable per file for the file's whole life: with the offset it makes the document _id. */
  idBase: string;
  path: string;
  /** Byte offset of the event's first line. */
  offset: number;
  /** Byte offset just after its last line: once acknowledged, the checkpoint may move here. */
  end: number;
  message: string;
  /** ISO 8601 time from the log line itself, where the format carries one. */
  timestamp?: string;
  /** Fields parsed from the line (json object fields, stream of cri/docker). */
  fields?: Record<string, unknown>;
  flags?: string[];
}

/** A decoded line before joining: `partial` lines (CRI "P", docker without "\n") continue in the next. */
export interface DecodedLine {
  message: string;
  timestamp?: string;
  fields?: Record<string, unknown>;
  partial?: boolean;
  flags?: string[];
}
