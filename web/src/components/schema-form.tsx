/**
 * A form for the params of a function whose params schema is a JSON Schema object: one field per
 * property it can show as a control (enum, string, number, integer, boolean); other properties are
 * left to the JSON editor beside it. The form and the JSON are one value: each edits it.
 */
import { isPlainObject } from '../json';

interface PropertySchema {
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly description?: string;
  readonly default?: unknown;
}

export interface SchemaFormProps {
  readonly schema: Record<string, unknown>;
  /** The params as parsed now (undefined while the JSON does not parse). */
  readonly value: unknown;
  readonly onChange: (value: Record<string, unknown>) => void;
}

function typeOf(property: PropertySchema): string | undefined {
  const types: readonly unknown[] = Array.isArray(property.type) ? property.type : [property.type];
  const type = types.find((t) => t !== 'null');
  return typeof type === 'string' ? type : undefined;
}

/** The properties the form can show; empty when the schema is not an object schema. */
export function formProperties(schema: Record<string, unknown>): [string, PropertySchema][] {
  if (!isPlainObject(schema.properties)) return [];
  return Object.entries(schema.properties)
    .filter((entry): entry is [string, PropertySchema] => isPlainObject(entry[1]))
    .filter(([, property]) => Array.isArray(property.enum) || ['string', 'number', 'integer', 'boolean'].includes(typeOf(property) ?? ''));
}

/** Params to start from: each property's default. */
export function defaultParams(schema: Record<string, unknown>): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [name, property] of formProperties(schema)) if (property.default !== undefined) params[name] = property.default;
  return params;
}

export function SchemaForm({ schema, value, onChange }: SchemaFormProps) {
  const properties = formProperties(schema);
  if (properties.length === 0) return null;
  const current = isPlainObject(value) ? value : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const set = (name: string, next: unknown): void => {
    const params = { ...current };
    if (next === undefined) delete params[name];
    else params[name] = next;
    onChange(params);
  };
  return (
    <fieldset class="schema-form" disabled={!isPlainObject(value) && value !== undefined}>
      <legend>Params form (from the function's params schema)</legend>
      {properties.map(([name, property]) => {
        const id = `param-${name}`;
        const type = typeOf(property);
        const shown = current[name];
        const label = (
          <label for={id}>
            {name}
            {required.has(name) ? <span aria-hidden="true"> *</span> : null}
          </label>
        );
        let control;
        if (Array.isArray(property.enum)) {
          const index = property.enum.findIndex((option) => option === shown);
          control = (
            <select id={id} required={required.has(name)} value={index >= 0 ? String(index) : ''} onChange={(e) => set(name, e.currentTarget.value === '' ? undefined : property.enum?.[Number(e.currentTarget.value)])}>
              <option value="">—</option>
              {property.enum.map((option, i) => (
                <option key={i} value={String(i)}>
                  {typeof option === 'string' ? option : JSON.stringify(option)}
                </option>
              ))}
            </select>
          );
        } else if (type === 'boolean') {
          control = <input id={id} type="checkbox" checked={shown === true} onChange={(e) => set(name, e.currentTarget.checked)} />;
        } else if (type === 'number' || type === 'integer') {
          control = (
            <input
              id={id}
              type="number"
              step={type === 'integer' ? 1 : 'any'}
              required={required.has(name)}
              value={typeof shown === 'number' ? String(shown) : ''}
              onInput={(e) => set(name, e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value))}
            />
          );
        } else {
          control = <input id={id} type="text" required={required.has(name)} value={typeof shown === 'string' ? shown : ''} onInput={(e) => set(name, e.currentTarget.value)} />;
        }
        return (
          <div class="field" key={name}>
            {label}
            {control}
            {property.description ? <small>{property.description}</small> : null}
          </div>
        );
      })}
    </fieldset>
  );
}
