// Original file: proto/runtime.proto


export interface ScriptError {
  'name'?: (string);
  'message'?: (string);
  'stack'?: (string);
  'line'?: (number);
  'column'?: (number);
  '_stack'?: "stack";
  '_line'?: "line";
  '_column'?: "column";
}

export interface ScriptError__Output {
  'name': (string);
  'message': (string);
  'stack'?: (string);
  'line'?: (number);
  'column'?: (number);
  '_stack'?: "stack";
  '_line'?: "line";
  '_column'?: "column";
}
