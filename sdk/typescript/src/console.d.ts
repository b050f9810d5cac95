// The globals SpiderMonkey (StarlingMonkey) gives a tool besides ES2023: console, a few web APIs.
// `lib: ["ES2023"]` leaves out the DOM, so they are declared here.
declare var console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
};
declare function fetch(url: string, init?: object): Promise<{ status: number; text(): Promise<string> }>;
