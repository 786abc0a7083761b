/**
 * Index names with a date from the event's @timestamp (UTC): "logs-app-%{+yyyy.MM.dd}"
 * -> "logs-app-2026.11.24". Tokens: yyyy, MM, dd, HH.
 */
export function indexNamer(template: string): (isoTimestamp: string) => string {
  const match = /%\{\+([^}]+)\}/.exec(template);
  if (!match) return () => template;
  const pattern = match[1] as string;
  const before = template.slice(0, match.index);
  const after = template.slice(match.index + match[0].length);
  let lastDay = '';
  let lastName = '';
  return (iso) => {
    const day = iso.slice(0, 13);
    if (day === lastDay) return lastName;
    const formatted = pattern
      .replace('yyyy', iso.slice(0, 4))
      .replace('MM', iso.slice(5, 7))
      .replace('dd', iso.slice(8, 10))
      .replace('HH', iso.slice(11, 13));
    lastDay = day;
    lastName = `${before}${formatted}${after}`;
    return lastName;
  };
}
