// ESLint for the addon's JavaScript: Odoo 18 ES modules (static/src, static/tests).
// The rules Odoo applies to its own code (addons/web/tooling) on top of
// eslint:recommended, plus the OCA template's error-level rules and jsdoc checks.
// Every rule is an error: pre-commit fails on any message (--max-warnings=0).
const globals = require("globals");
const js = require("@eslint/js");
const jsdoc = require("eslint-plugin-jsdoc");

module.exports = [
  { ignores: [".build/", ".venv/", "**/static/lib/", "**/static/src/lib/"] },
  js.configs.recommended,
  {
    files: ["static/**/*.js"],
    plugins: { jsdoc },
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: {
        ...globals.browser,
        odoo: "readonly",
        owl: "readonly",
        luxon: "readonly",
      },
    },
    rules: {
      // Odoo (addons/web/tooling/_eslintrc.json)
      curly: ["error", "all"],
      "no-restricted-globals": ["error", "event", "self"],
      "no-restricted-syntax": ["error", "PrivateIdentifier"],
      "no-duplicate-imports": "error",
      "no-unused-vars": [
        "error",
        { vars: "all", args: "none", ignoreRestSiblings: false, caughtErrors: "all" },
      ],
      "prefer-const": ["error", { destructuring: "all", ignoreReadBeforeAssign: true }],
      // OCA (eslint.config.cjs of the addons template, error level)
      "no-empty-function": "error",
      "no-eq-null": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-lonely-if": "error",
      "no-return-assign": "error",
      "no-unneeded-ternary": "error",
      "no-unused-expressions": "error",
      "no-use-before-define": ["error", { functions: false, classes: true }],
      "operator-assignment": ["error", "always"],
      "spaced-comment": ["error", "always"],
      eqeqeq: "error",
      "jsdoc/check-tag-names": "error",
    },
  },
  {
    files: ["*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
