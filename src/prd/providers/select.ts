import { invalidArgument } from '../../model/errors';
import type { PrdConfig, ProgressReporter } from '../config';
import { OllamaProvider } from './ollama';
import type { Provider } from './provider';
import { RulesProvider } from './rules';

/** What Ollama accepts as a model name: `llama3.1`, `llama3.1:8b`, `library/llama3:latest`, `hf.co/user/model`. */
const OLLAMA_MODEL_NAME = /^[A-Za-z0-9][\w.-]*(?:\/[\w.-]+)*(?::[\w.-]+)?$/;

/**
 * The provider a request's `model` names ("" = the configured default): "rules", "ollama" (the
 * configured model), "ollama:<name>", or a bare Ollama model name, as the original guide's calls
 * (`"model": "llama3.1"`) send it.
 */
export function selectProvider(requested: string | undefined, config: PrdConfig, progress?: ProgressReporter): Provider {
  const name = requested?.trim() || config.defaultModel;
  if (name === 'rules') return new RulesProvider();
  if (name === 'ollama') return new OllamaProvider(config.ollama, progress);
  const model = /^ollama[:/](\S+)$/.exec(name)?.[1] ?? (OLLAMA_MODEL_NAME.test(name) ? name : undefined);
  if (model) return new OllamaProvider({ ...config.ollama, model }, progress);
  throw invalidArgument(
    `model ${JSON.stringify(name)} is not a model name; use one of: "rules" (offline, deterministic), ` +
      `"ollama" (the configured Ollama model ${config.ollama.model} at ${config.ollama.baseUrl}), an Ollama model name such as "llama3.1" or "ollama:<name>"`,
  );
}
