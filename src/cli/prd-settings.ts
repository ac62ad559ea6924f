import type { PrdConfig } from '../prd/config';
import type { Project } from '../config/project';
import { resolveSetting, type SettingName } from '../config/settings';

/** The settings that choose and reach a model (for `rig grpc`, `rig prd`, `rig orchestrate`). */
export const PRD_SETTINGS: SettingName[] = ['model', 'ollamaUrl', 'ollamaModel', 'ollamaTimeoutMs'];

export function prdConfigOf(project: Project, argv: Record<string, unknown>): PrdConfig {
  return {
    defaultModel: resolveSetting('model', argv, project.config),
    ollama: {
      baseUrl: resolveSetting('ollamaUrl', argv, project.config),
      model: resolveSetting('ollamaModel', argv, project.config),
      timeoutMs: resolveSetting('ollamaTimeoutMs', argv, project.config),
    },
  };
}
