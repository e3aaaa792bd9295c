// Original file: proto/runtime.proto


export interface CompileFailure {
  'kind'?: (string);
  'message'?: (string);
  'line'?: (number);
  'column'?: (number);
  'diagnostics'?: (string);
  '_line'?: "line";
  '_column'?: "column";
  '_diagnostics'?: "diagnostics";
}

export interface CompileFailure__Output {
  'kind': (string);
  'message': (string);
  'line'?: (number);
  'column'?: (number);
  'diagnostics'?: (string);
  '_line'?: "line";
  '_column'?: "column";
  '_diagnostics'?: "diagnostics";
}
