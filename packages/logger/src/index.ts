export * from './create-logger';
export { redact, redactText, REDACTED } from './redact';
