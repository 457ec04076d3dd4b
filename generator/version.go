package generator

// Version is the version of sfbpatch. Tests render with their own version
// (see Options.Version), so that golden files do not change with a release.
const Version = "0.1.0"
