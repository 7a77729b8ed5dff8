/** @type {import('prettier').Config} */
// The OCA settings for Odoo 18.0, except for the width and the braces: 100 columns
// and `{ a }`, as Odoo's own JavaScript tooling (addons/web/tooling) formats it.
// Indentation comes from .editorconfig.
const config = {
  // https://github.com/prettier/prettier/issues/15388#issuecomment-1717746872
  plugins: [require.resolve("@prettier/plugin-xml")],
  bracketSpacing: true,
  printWidth: 100,
  proseWrap: "always",
  semi: true,
  trailingComma: "es5",
  xmlWhitespaceSensitivity: "preserve",
};

module.exports = config;
