// The platform bundle's value inside the guest prelude's closure (src/runtimes/nodejs/platform/index.js,
// built by platform-bundle.ts): a parameter of the closure, never a global.
declare const lambdaPlatform: {
  installPlatform(global: typeof globalThis): {
    connect(random: unknown, clock: unknown): void;
    require(specifier: string): unknown;
    warm(): number;
  };
};
