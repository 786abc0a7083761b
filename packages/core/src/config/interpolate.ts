import { ConfigError } from './errors.js';

export type Environment = Readonly<Record<string, string | undefined>>;

// ${NAME}, ${NAME:-default} (default when unset or empty), ${NAME-default} (default when unset).
// "$${" escapes a literal "${".
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g;

/**
 * Replaces environment references in one configuration string.
 * Kubernetes hands settings to containers as env vars (and Downward API values), so
 * every string in a config file may refer to them.
 */
export function interpolate(text: string, env: Environment, where: () => string): string {
  if (!text.includes('${')) return text;
  return text.replace(REFERENCE, (match, name: string | undefined, operator?: string, fallback?: string) => {
    if (match === '$${') return '${';
    const value = env[name as string];
    if (operator === ':-' && (value === undefined || value === '')) return fallback ?? '';
    if (operator === '-' && value === undefined) return fallback ?? '';
    if (value === undefined) {
      throw new ConfigError(
        `${where()}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
      );
    }
    return value;
  });
}
