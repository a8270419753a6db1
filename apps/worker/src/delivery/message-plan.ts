import { compileTemplate, SYSTEM_FIELDS, type BroadcastMessage, type ChannelName, type CompiledTemplate, type TemplateView } from '@herald/core';
import type { RecipientContact, RenderedTemplate } from '@herald/channels';
import type { ClaimedDelivery } from '@herald/db';

/**
 * A broadcast's message as one channel sends it, compiled once per run (SPEC §4) and rendered
 * per contact at send time. The stored message (validated by the admin API) is
 * `{ text, channels?: { <channel>: { text?, template?: { name, language, body_parameters }, message_tag? } } }`;
 * a channel's own text replaces the broadcast's; a WhatsApp template replaces the text.
 */
export interface MessagePlan {
  render(delivery: ClaimedDelivery): RenderedMessage;
}

export interface RenderedMessage {
  contact: RecipientContact;
  text: string;
  template?: RenderedTemplate;
  messageTag?: string;
  /** What the delivery row keeps as its text. */
  recordedText: string;
  /** Nothing to send: the text rendered empty and no template carries the message. */
  empty: boolean;
}

/** Thrown for a stored message that no longer compiles (the admin API refuses such input). */
export class UnrenderableMessage extends Error {}

export function planMessage(message: BroadcastMessage, channel: ChannelName, payload: unknown): MessagePlan {
  const override = message.channels?.[channel];
  const text = compile(override?.text ?? message.text, 'text');
  const template = override?.template && {
    name: override.template.name,
    language: override.template.language ?? 'en',
    // `parameters` is the name older broadcasts were stored with.
    parameters: (override.template.body_parameters ?? override.template.parameters ?? []).map((p, i) => compile(p, `body_parameters[${i}]`)),
  };
  const messageTag = override?.message_tag;
  return {
    render(delivery) {
      const view = viewOf(delivery, payload);
      const rendered = text.render(view);
      const contact = contactOf(delivery);
      if (template) {
        const bodyParameters = template.parameters.map((p) => p.render(view));
        return {
          contact,
          text: rendered,
          template: { name: template.name, language: template.language, bodyParameters },
          recordedText: `[template ${template.name}] ${bodyParameters.join(' | ')}`.trimEnd(),
          empty: false,
        };
      }
      return { contact, text: rendered, messageTag, recordedText: rendered, empty: rendered.trim() === '' };
    },
  };
}

function compile(source: string, what: string): CompiledTemplate {
  const compiled = compileTemplate(source);
  if (!compiled.ok) throw new UnrenderableMessage(`message ${what} does not compile: ${compiled.error.message} at ${compiled.error.position}`);
  return compiled.template;
}

function viewOf(delivery: ClaimedDelivery, payload: unknown): TemplateView {
  const fields: Record<string, string | null> = {};
  for (const field of SYSTEM_FIELDS) fields[field] = (delivery as unknown as Record<string, string | null>)[field] ?? null;
  return { fields, variables: delivery.variables, ...(payload === null || payload === undefined ? {} : { payload }) };
}

function contactOf(d: ClaimedDelivery): RecipientContact {
  return {
    user_id: d.user_id,
    bot_channel: d.bot_channel,
    user_phone_number: d.user_phone_number,
    first_name: d.first_name,
    last_name: d.last_name,
    user_name: d.user_name,
    locale: d.locale,
  };
}
