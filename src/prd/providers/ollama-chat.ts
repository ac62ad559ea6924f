// One non-streaming call to Ollama's chat API (POST {baseUrl}/api/chat) with a JSON schema as
// `format`; returns the assistant's message text. Transport failures become domain errors here;
// judging the text is the caller's job.
import { RiggerError } from '../../model/errors';
import type { OllamaConfig } from '../config';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The reply was not Ollama's chat response shape (the caller may retry like any invalid answer). */
export class MalformedReplyError extends Error {}

export async function ollamaChat(config: OllamaConfig, messages: ChatMessage[], format: object, cancel?: AbortSignal): Promise<string> {
  const url = `${config.baseUrl.replace(/\/+$/, '')}/api/chat`;
  let response: Response;
  let body: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: config.model, messages, format, stream: false, options: { temperature: 0 } }),
      signal: cancel ? AbortSignal.any([cancel, AbortSignal.timeout(config.timeoutMs)]) : AbortSignal.timeout(config.timeoutMs),
    });
    body = await response.text();
  } catch (error) {
    if (cancel?.aborted) throw new RiggerError('unavailable', 'the call was cancelled before Ollama answered; nothing was saved');
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RiggerError(
        'unavailable',
        `Ollama at ${config.baseUrl} did not answer within ${config.timeoutMs} ms; nothing was saved. Raise the timeout (RIGGER_OLLAMA_TIMEOUT_MS) or use a smaller model`,
      );
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new RiggerError(
      'unavailable',
      `cannot reach Ollama at ${config.baseUrl} (${cause?.code ?? cause?.message ?? (error as Error).message}); start it with \`ollama serve\` or set RIGGER_OLLAMA_URL`,
    );
  }
  if (!response.ok) {
    const reason = errorText(body);
    if (response.status === 404) {
      throw new RiggerError(
        'invalid_argument',
        `Ollama has no model "${config.model}" (${reason}); pull it with \`ollama pull ${config.model}\` or choose another with --model ollama:<name>`,
      );
    }
    throw new RiggerError('unavailable', `Ollama at ${config.baseUrl} answered HTTP ${response.status}: ${reason}`);
  }
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    throw new MalformedReplyError(`Ollama's reply is not JSON: ${body.slice(0, 200)}`);
  }
  const content = (reply as { message?: { content?: unknown } })?.message?.content;
  if (typeof content !== 'string') throw new MalformedReplyError("Ollama's reply has no message.content text");
  return content;
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: show the text itself
  }
  return body.slice(0, 200) || 'no details';
}
