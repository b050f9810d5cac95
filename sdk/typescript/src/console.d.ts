// The globals SpiderMonkey (StarlingMonkey) gives a tool besides ES2023: console, a few web APIs.
// `lib: ["ES2023"]` leaves out the DOM, so they are declared here.
declare var console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
};

// fetch (WHATWG Fetch over wasi:http): reaches only the origins the component's tool set grants
// (`capabilities.http`); any other request rejects with a TypeError. See "Outbound HTTP" in
// sdk/typescript/README.md.
type HeadersInit = Headers | Record<string, string> | [string, string][];
declare class Headers {
  constructor(init?: HeadersInit);
  get(name: string): string | null;
  has(name: string): boolean;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  forEach(callback: (value: string, name: string) => void): void;
  entries(): IterableIterator<[string, string]>;
}
interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: string | Uint8Array | ArrayBuffer | null;
}
declare class Request {
  constructor(input: string | Request, init?: RequestInit);
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
}
declare class Response {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: Headers;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}
declare function fetch(input: string | Request, init?: RequestInit): Promise<Response>;
