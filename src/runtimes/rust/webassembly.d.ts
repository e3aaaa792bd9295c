/**
 * The few WebAssembly JS API types the Rust runtime's host code uses. TypeScript ships them only
 * in its DOM and web worker libs, which this Node.js project does not load (lib: ES2023), and
 * @types/node 20 does not declare them.
 */
declare namespace WebAssembly {
  type ImportExportKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

  interface ModuleImportDescriptor {
    readonly module: string;
    readonly name: string;
    readonly kind: ImportExportKind;
  }

  interface ModuleExportDescriptor {
    readonly name: string;
    readonly kind: ImportExportKind;
  }

  class Module {
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
  }

  function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
}
