import { NetkitError } from "../errors.ts";

/**
 * Stable codes of {@linkcode HttpError}:
 * - `bad_http`: bytes that are not a valid HTTP/1.1 response (status
 *   line, header line, chunk framing, contradicting lengths).
 * - `head_too_large`: a response head (or a chunked body's trailers)
 *   exceeded the size or header-count limit.
 * - `body_too_large`: a response body exceeded `maxBodyBytes`.
 * - `bad_option`: a request that cannot be sent (a URL that is not
 *   `http://` or `https://`, a header name or value HTTP forbids).
 */
export type HttpErrorCode =
  | "bad_http"
  | "head_too_large"
  | "body_too_large"
  | "bad_option";

/**
 * The error class of the `http/` module family.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "@netkit/netkit/http";
 *
 * const error = new HttpError("bad_http", "bad status line");
 * assert.ok(error.code === "bad_http");
 * ```
 */
export class HttpError extends NetkitError {
  /** What went wrong, stable across releases. */
  declare readonly code: HttpErrorCode;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message One line a user can act on.
   * @param options The underlying cause, if any.
   */
  constructor(code: HttpErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "HttpError";
  }
}
