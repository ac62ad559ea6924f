import { invalidArgument } from '../../model/errors';
import type { PrdConfig, ProgressReporter } from '../config';
import { OllamaProvider } from './ollama';
import type { Provider } from './provider';
import { RulesProvider } from './rules';

/** The provider a request's `model` names ("" = the configured default). */
export function selectProvider(requested: string | undefined, config: PrdConfig, progress?: ProgressReporter): Provider {
  const name = requested?.trim() || config.defaultModel;
  if (name === 'rules') return new RulesProvider();
  if (name === 'ollama') return new OllamaProvider(config.ollama, progress);
  const named = /^ollama[:/](\S+)$/.exec(name);
  if (named) return new OllamaProvider({ ...config.ollama, model: named[1]! }, progress);
  throw invalidArgument(
    `model ${JSON.stringify(name)} is not known; use one of: "rules" (offline, deterministic), ` +
      `"ollama" (the configured Ollama model ${config.ollama.model} at ${config.ollama.baseUrl}), "ollama:<name>" (any model your Ollama has pulled)`,
  );
}
