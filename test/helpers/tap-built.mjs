// Exits 0 if tap's test class is built with the plugin set that
// package.json asks for, else 1: `tap build` (some 20 s) is needed only
// then. tap checks the same when it runs, but only after it has loaded its
// old build, whose loaders (e.g. the TypeScript plugin's, on by default)
// would then apply to the tests of that run.
// Plain JavaScript: it runs before anything is compiled.
try {
  await import('@tapjs/core'); // @tapjs/test cannot load first (the two import each other)
  const { signature } = await import('@tapjs/test');
  const { TapConfig } = await import('@tapjs/config');
  if (signature === (await TapConfig.load()).pluginSignature) process.exit(0);
  console.log("tap's plugin set changed: rebuilding tap");
} catch (err) {
  console.log(`cannot tell which plugins tap is built with (${err instanceof Error ? err.message : String(err)}): rebuilding tap`);
}
process.exit(1);
