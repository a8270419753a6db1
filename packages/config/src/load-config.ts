import type { ObjectSchema } from 'joi';

/** Thrown when the environment is invalid; `problems` lists every one of them, not the first. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };

/**
 * Validates `env` against `schema` and returns the converted values, frozen.
 * Unknown variables are ignored (the environment holds far more than Herald's settings) and
 * left out of the result. Every problem is reported at once so an operator fixes them in one
 * deploy, not one per restart.
 */
export function loadConfig<T extends object>(schema: ObjectSchema<T>, env: Readonly<Record<string, string | undefined>>): DeepReadonly<T> {
  const { value, error } = schema.validate(withoutEmptyStrings(env), {
    abortEarly: false,
    allowUnknown: true,
    stripUnknown: true,
    convert: true,
    errors: { wrap: { label: false } },
  });
  if (error) throw new ConfigError(error.details.map((d) => d.message));
  return deepFreeze(value);
}

/** `FOO=` in a .env file or compose file means "not set", so the default applies. */
function withoutEmptyStrings(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
