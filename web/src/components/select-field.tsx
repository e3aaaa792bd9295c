/** A labelled <select> of plain string options, optionally with an "all" choice (the empty value) first. */
export function SelectField<T extends string>(props: {
  readonly id: string;
  readonly label: string;
  readonly value: T | '';
  readonly options: readonly T[];
  readonly onChange: (value: T | '') => void;
  /** The text of the empty choice; none when absent. */
  readonly all?: string;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value as T | '')}>
        {props.all !== undefined ? <option value="">{props.all}</option> : null}
        {props.options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </div>
  );
}
