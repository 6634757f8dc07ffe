// The logger the gateway core uses: ECS JSON lines (gateway/src/log/logger.ts). `jsonLogger` adapts it
// to a plain write function (tests capture lines with it).

import { createLogger, type Logger, type LogLevel } from "./log/logger.ts";

export type { LogFields, Logger, LogLevel } from "./log/logger.ts";

export function jsonLogger(level: LogLevel = "info", write?: (line: string) => void): Logger {
  if (!write) return createLogger({ level });
  const stream = {
    write: (l: string) => {
      write(l);
      return true;
    },
  };
  return createLogger({ level, stream });
}

export const silentLogger: Logger = createLogger({ level: "silent" });
