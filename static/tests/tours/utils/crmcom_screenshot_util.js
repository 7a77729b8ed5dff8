// A tour step that asks for a README screenshot (tools/screenshots). The Python
// side (tests/test_readme_screenshots.py) watches the browser console for
// SCREENSHOT_SIGNAL, captures the page through the DevTools protocol and calls
// back window.__crmcomScreenshots[name] with "ok" or why it failed.

export const SCREENSHOT_SIGNAL = "crmcom-screenshot:";

/**
 * Take the picture ``name`` (a file name such as "receipt.png") once ``trigger``
 * is shown.
 *
 * @param {string} name
 * @param {Object} [options]
 * @param {string} [options.trigger] what must be on screen first (default: ``selector`` or body)
 * @param {string} [options.selector] crop the picture to this element
 * @param {number} [options.margin] pixels kept around ``selector``
 * @param {number} [options.height] viewport height for this picture (a long receipt)
 */
export function screenshot(name, { trigger, selector, margin = 0, height } = {}) {
    return {
        content: `screenshot ${name}`,
        trigger: trigger || selector || "body",
        timeout: 60000,
        async run() {
            // Let the last click's animations and pending renders settle.
            await new Promise((resolve) => setTimeout(resolve, 300));
            window.__crmcomScreenshots ||= {};
            const done = new Promise((resolve) => {
                window.__crmcomScreenshots[name] = resolve;
            });
            console.info(SCREENSHOT_SIGNAL + JSON.stringify({ name, selector, margin, height }));
            const outcome = await Promise.race([
                done,
                new Promise((resolve) =>
                    setTimeout(() => resolve("no answer (not run by tools/screenshots?)"), 45000)
                ),
            ]);
            delete window.__crmcomScreenshots[name];
            if (outcome !== "ok") {
                throw new Error(`screenshot ${name}: ${outcome}`);
            }
        },
    };
}
