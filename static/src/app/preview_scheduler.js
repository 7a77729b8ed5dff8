import { Mutex, delay } from "@web/core/utils/concurrency";
import { debounce } from "@web/core/utils/timing";

/** Quiet time after the last change of the order before the preview is asked. */
export const PREVIEW_DEBOUNCE_MS = 500;
/** A preview of unchanged content is asked again after this age. */
export const PREVIEW_MAX_AGE_MS = 10 * 60 * 1000;
/** Validation waits at most this long for a preview under way. */
export const PREVIEW_SETTLE_MS = 20 * 1000;

/**
 * When the till asks the server's rewards preview of its orders, so that
 * CRM.COM is not flooded while the cashier rings up:
 *
 * - per order, once it has not changed for ``wait`` ms (``debounce``: every new
 *   schedule of the order restarts its delay);
 * - one preview in flight for the whole till (a ``Mutex``): a newer request waits
 *   for the one in flight, and an order already waiting its turn is not queued
 *   twice (its request reads the order as it stands when its turn comes, so the
 *   latest basket wins).
 *
 * ``ask(uuid, force)`` makes one request and resolves once its answer is in (or
 * dropped as stale: that is the asker's business, it knows the order).
 */
export class PreviewScheduler {
    constructor(ask, wait = PREVIEW_DEBOUNCE_MS) {
        this._ask = ask;
        this._wait = wait;
        this._mutex = new Mutex();
        /** uuid -> its debounced request, while the delay runs */
        this._debounced = {};
        /** uuids queued behind the request in flight */
        this._queued = new Set();
        /** uuid -> settles once its last queued request is over */
        this._done = {};
    }

    /** Ask for order ``uuid`` after the quiet time (``now``: at once). */
    schedule(uuid, { now = false, force = false } = {}) {
        if (now) {
            this._debounced[uuid]?.cancel();
            delete this._debounced[uuid];
            this._enqueue(uuid, force);
            return;
        }
        if (!this._debounced[uuid]) {
            this._debounced[uuid] = debounce((forced) => {
                delete this._debounced[uuid];
                this._enqueue(uuid, forced);
            }, this._wait);
        }
        this._debounced[uuid](force);
    }

    /**
     * Ask at once for order ``uuid`` if its delay is running, then wait until
     * none of its requests is queued or in flight, for at most ``timeout`` ms.
     */
    async settle(uuid, timeout) {
        // Runs the debounced request now (which forgets it, see schedule).
        this._debounced[uuid]?.cancel(true);
        const deadline = Date.now() + timeout;
        while (this._done[uuid] && Date.now() < deadline) {
            await Promise.race([this._done[uuid], delay(deadline - Date.now())]);
        }
    }

    _enqueue(uuid, force) {
        if (this._queued.has(uuid)) {
            return; // asked once, for the order as it stands when its turn comes
        }
        this._queued.add(uuid);
        const done = this._mutex
            .exec(() => {
                this._queued.delete(uuid);
                return this._ask(uuid, force);
            })
            .finally(() => {
                if (this._done[uuid] === done) {
                    delete this._done[uuid];
                }
            });
        this._done[uuid] = done;
    }
}
