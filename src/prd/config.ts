// How PRD generation and orchestration pick and reach a model. Filled from the settings
// (src/cli/settings.ts: flag > env > .rigger/config.json > default) and handed to the server.

export interface OllamaConfig {
  /** Where Ollama's HTTP API listens, e.g. http://127.0.0.1:11434. */
  baseUrl: string;
  /** The Ollama model `ollama` means, e.g. llama3.2. */
  model: string;
  /** How long one chat call may take before it is abandoned. */
  timeoutMs: number;
}

export interface PrdConfig {
  /** The model used when a request names none: "rules", "ollama" or "ollama:<name>". */
  defaultModel: string;
  ollama: OllamaConfig;
}

export const DEFAULT_PRD_CONFIG: PrdConfig = {
  defaultModel: 'rules',
  ollama: { baseUrl: 'http://127.0.0.1:11434', model: 'llama3.2', timeoutMs: 120_000 },
};

/** Reports that a slow call started; the returned function reports that it ended. */
export type ProgressReporter = (what: string) => () => void;
