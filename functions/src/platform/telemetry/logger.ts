/**
 * Structured logs in Cloud Logging's JSON shape, one object per line on stdout/stderr, carrying the
 * active trace so that logs and traces join up in the console.
 * See https://cloud.google.com/logging/docs/structured-logging (special JSON fields).
 */
import { currentTraceIds } from './tracing.js';

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const severityRank: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  projectId: string;
  level: Severity;
  /** Where lines go; defaults to stdout (stderr for ERROR). */
  write?: (line: string, severity: Severity) => void;
}

const defaultWrite = (line: string, severity: Severity): void => {
  (severity === 'ERROR' ? process.stderr : process.stdout).write(`${line}\n`);
};

/** Makes a JSON value of anything, with bigint as a decimal string (money must not lose digits). */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? defaultWrite;
  const minRank = severityRank[options.level];
  const emit = (severity: Severity, message: string, fields: Record<string, unknown> = {}): void => {
    if (severityRank[severity] < minRank) return;
    const { traceId, spanId } = currentTraceIds();
    const entry: Record<string, unknown> = {
      severity,
      message,
      time: new Date().toISOString(),
      ...fields,
    };
    if (traceId) {
      entry['logging.googleapis.com/trace'] = `projects/${options.projectId}/traces/${traceId}`;
      entry['logging.googleapis.com/spanId'] = spanId;
      entry.traceId = traceId;
    }
    write(JSON.stringify(entry, jsonSafe), severity);
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
  };
}
