// Markdown PRD -> structure. Line based and forgiving of real-world shapes (CRLF, BOM, nested
// lists, `1)` lists, headings with trailing colons or closing #s); strict only where a wrong
// guess would create wrong tasks (no title, a Task block's due date that is not a date).
import { createHash } from 'node:crypto';
import { invalidArgument } from '../model/errors';

export interface PrdItem {
  text: string;
  /** Nested list items and continuation lines under this item. */
  details: string[];
}

export interface PrdRequirement extends PrdItem {
  /** The heading of the section the bullet is in, as written. */
  section: string;
}

export interface PrdTaskBlock {
  number: number;
  title: string;
  assignee?: string;
  due_date?: string;
  details: string[];
}

export interface ParsedPrd {
  title: string;
  objectives: PrdItem[];
  tech_stack: PrdItem[];
  constraints: PrdItem[];
  /** List items of every other section (except those in IGNORED_SECTIONS) outside Task blocks. */
  requirements: PrdRequirement[];
  tasks: PrdTaskBlock[];
}

type KnownSection = 'objectives' | 'tech_stack' | 'constraints';
const KNOWN_SECTIONS: Record<string, KnownSection> = {
  objectives: 'objectives',
  'tech stack': 'tech_stack',
  constraints: 'constraints',
};
/** Sections whose bullets are not work to do. */
const IGNORED_SECTIONS = new Set(['non goals', 'nongoals', 'out of scope', 'open questions', 'references', 'glossary', 'appendix']);

const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const LIST_ITEM = /^(\s*)(?:[-*+]|\d{1,9}[.)])\s+(.*)$/;
const TASK_HEADING = /^task\s+(\d+)\s*[:.)-]\s*(.+)$/i;
const FIELD_LINE = /^(?:[-*+]\s+)?(?:\*\*|__)?\s*(assignee|owner|due(?:\s+date)?)\s*(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*:)\s*(.*)$/i;
const FENCE = /^\s*(```|~~~)/;

/** The PRD's stable id: the same text (line endings aside) always gets the same id. */
export function prdIdOf(text: string): string {
  return `prd-${createHash('sha256').update(normalizeText(text)).digest('hex').slice(0, 16)}`;
}

export function normalizeText(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

/** Parses a markdown PRD; `source` names it in error messages. */
export function parsePrd(text: string, source: string): ParsedPrd {
  const parsed: ParsedPrd = { title: '', objectives: [], tech_stack: [], constraints: [], requirements: [], tasks: [] };
  let section: { name: string; known?: KnownSection; ignored: boolean } | undefined;
  let task: PrdTaskBlock | undefined;
  /** The item nested lines and continuations attach to, and the indent of its bullet. */
  let current: { item: PrdItem; indent: number } | undefined;
  let inFence = false;

  const lines = normalizeText(text).split('\n');
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (FENCE.test(raw)) {
      inFence = !inFence;
      return;
    }
    if (inFence) return;
    const heading = HEADING.exec(raw);
    if (heading) {
      const level = heading[1]!.length;
      const headingText = cleanInline(heading[2]!).replace(/\s*:\s*$/, '');
      current = undefined;
      if (!parsed.title) {
        if (level === 1 && headingText) parsed.title = headingText;
        return;
      }
      if (level <= 2) {
        task = undefined;
        const key = headingText.toLowerCase().replace(/[-_]/g, ' ').replace(/\s+/g, ' ');
        section = { name: headingText, ignored: IGNORED_SECTIONS.has(key), ...(KNOWN_SECTIONS[key] && { known: KNOWN_SECTIONS[key] }) };
        return;
      }
      const taskHeading = level === 3 ? TASK_HEADING.exec(headingText) : null;
      if (taskHeading) {
        task = { number: Number(taskHeading[1]), title: taskHeading[2]!.trim(), details: [] };
        parsed.tasks.push(task);
      } else if (level === 3) {
        task = undefined;
      }
      return;
    }
    if (!parsed.title || raw.trim() === '') return;

    if (task) {
      const field = FIELD_LINE.exec(raw.trim());
      if (field) {
        setTaskField(task, field[1]!, cleanInline(field[2]!), source, lineNo);
        return;
      }
    }
    const listItem = LIST_ITEM.exec(raw);
    if (listItem) {
      const indent = indentWidth(listItem[1]!);
      const itemText = cleanInline(listItem[2]!.replace(/^\[[ xX]\]\s+/, ''));
      if (!itemText) return;
      if (task) {
        // A Task block's bullets (nested ones too) are its description.
        task.details.push(itemText);
        current = undefined;
        return;
      }
      if (current && indent > current.indent) {
        current.item.details.push(itemText);
        return;
      }
      current = undefined;
      if (!section || section.ignored) return;
      if (section.known) {
        const item: PrdItem = { text: itemText, details: [] };
        parsed[section.known].push(item);
        current = { item, indent };
      } else {
        const item: PrdRequirement = { section: section.name, text: itemText, details: [] };
        parsed.requirements.push(item);
        current = { item, indent };
      }
      return;
    }
    const paragraph = cleanInline(raw);
    // A paragraph line indented under an item continues that item; otherwise it ends the list.
    if (current && /^\s+\S/.test(raw)) {
      current.item.text = `${current.item.text} ${paragraph}`;
      return;
    }
    current = undefined;
    if (task) {
      const previous = task.details.length - 1;
      if (previous >= 0 && /^\s+\S/.test(raw)) task.details[previous] = `${task.details[previous]} ${paragraph}`;
      else task.details.push(paragraph);
    }
  });

  if (!parsed.title) {
    throw invalidArgument(`${source} has no title: the PRD must start with a first-level heading such as "# Checkout redesign"`);
  }
  return parsed;
}

function setTaskField(task: PrdTaskBlock, name: string, value: string, source: string, lineNo: number): void {
  if (value === '') return;
  if (/^(assignee|owner)$/i.test(name)) {
    task.assignee = value;
    return;
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || new Date(`${value}T00:00:00Z`).toISOString().slice(0, 10) !== value) {
    throw invalidArgument(
      `${source} line ${lineNo}: Task ${task.number}'s due date "${value}" is not a calendar date in the form YYYY-MM-DD (e.g. 2025-12-31)`,
    );
  }
  task.due_date = value;
}

function indentWidth(whitespace: string): number {
  return whitespace.replace(/\t/g, '    ').length;
}

/** Plain text of a markdown line: emphasis markers, inline code ticks and link targets removed. */
function cleanInline(text: string): string {
  return text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}
