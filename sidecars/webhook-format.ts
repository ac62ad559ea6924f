// The body the webhook sidecar POSTs for one event: `json`, the event as the NATS bridge publishes it,
// or `slack`, a Slack incoming-webhook message a person can read ({"text": "Alice moved *Fix login
// bug* to IN_PROGRESS"}), which Slack, Mattermost, Rocket.Chat and Discord's /slack endpoint take.
import { eventTypeName, statusName, TaskEventType, type TaskEvent } from '../src/model/task';
import { eventJson } from './event-json';

export const FORMATS = ['json', 'slack'] as const;
export type WebhookFormat = (typeof FORMATS)[number];

export function webhookBody(event: TaskEvent, format: WebhookFormat): string {
  return format === 'json' ? eventJson(event) : JSON.stringify({ text: slackText(event) });
}

/** Slack's mrkdwn escapes only these three; a title cannot turn into a link or a mention. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line per event: who did what to which task. */
export function slackText(event: TaskEvent): string {
  const who = escape(event.actor || 'Someone');
  const task = `*${escape(event.task.title)}*`;
  const { assignee, due_date: due } = event.task;
  switch (event.event_type) {
    case TaskEventType.CREATED:
      return `${who} created ${task}${assignee ? ` for ${escape(assignee)}` : ''}${due ? `, due ${escape(due)}` : ''}`;
    case TaskEventType.UPDATED:
      return `${who} updated ${task}${event.changed_fields.length > 0 ? ` (${event.changed_fields.join(', ')})` : ''}`;
    case TaskEventType.DELETED:
      return `${who} deleted ${task}`;
    case TaskEventType.STATUS_CHANGED:
      return `${who} moved ${task} to ${statusName(event.task.status)}`;
    case TaskEventType.ASSIGNED:
      return assignee ? `${who} assigned ${task} to ${escape(assignee)}` : `${who} unassigned ${task}`;
    case TaskEventType.DECOMPOSED:
      return `${who} decomposed ${task} into ${event.task.subtask_ids.length} subtasks`;
    case TaskEventType.ORCHESTRATED:
      return `${who} orchestrated ${task}`;
    default:
      return `${who} changed ${task} (${eventTypeName(event.event_type)})`;
  }
}
