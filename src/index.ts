// The package's main entry (`rigger`) is the client library: see ./client/index.ts.
export * from './client/index';
