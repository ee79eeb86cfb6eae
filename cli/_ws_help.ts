// The help text of `netkit ws`, shared by the command and `ws serve --help`.

/** The port `ws serve` binds by default. */
export const WS_DEFAULT_PORT = 8080;

/** `netkit ws --help`. */
export const WS_HELP: string =
  `netkit ws: WebSocket server, client, handshake verifier, conformance suite

Usage:
  netkit ws serve [--host H] [--port ${WS_DEFAULT_PORT}] [--mode echo|broadcast] [--path /ws]
                  [--protocol P]... [--allow-origin O]... [--max-message BYTES]
                  [--max-buffered BYTES] [--max-conns N] [--idle-timeout S]
                  [--grace S] [--tls-cert F --tls-key F] [--no-page] [--deflate]
  netkit ws connect URL [--header "K: V"]... [--protocol P]... [--binary]
                    [--base64] [--wait MS] [--timeout MS] [--json] [--deflate]
                    (more: netkit ws connect --help)
  netkit ws verify ...   check a server's handshake and framing (see --help)
  netkit ws check ...    RFC 6455 conformance suite (see --help)

serve    echo each message back (default), or with --mode broadcast send it to
         every other client. Upgrades at --path (default /ws); a page to try it
         in a browser at /. Prints 'listening ws HOST:PORT'.
         --protocol P        accept subprotocol P (repeatable; the client's
                             first match wins)
         --allow-origin O    only browsers from origin O (repeatable); others
                             get 403
         --max-message B     close clients sending more with 1009 (default 16M)
         --max-buffered B    close clients that let more than B bytes queue
                             up unread with 1008 (default: twice
                             --max-message)
         --max-conns N       answer 503 beyond N connections
         --idle-timeout S    ping after S/2 silent seconds, close with 1001
                             after S (default 30, 0 disables)
         --grace S           on SIGINT/SIGTERM close clients with 1001 and
                             wait up to S seconds (default 5)
         --tls-cert F        serve wss:// (and the page over https://) with
                             this PEM certificate; needs --tls-key F
         --no-page           do not serve the page at /
         --deflate           accept permessage-deflate (RFC 7692) from
                             clients that offer it; inflated messages count
                             against --max-message
connect  like wscat: each stdin line is sent as a message (binary with
         --binary); messages received go to stdout (text as is, binary as hex,
         or base64 with --base64; --json for one JSON object per line).
         After stdin ends, waits until as many messages came back as were
         sent, or until --wait MS (default 1000) pass without a message, then
         closes with 1000 and prints the close code and reason on stderr.
         A failed upgrade prints the HTTP status and body start.
         --header "K: V"     extra handshake header (repeatable)
         --protocol P        offer subprotocol P (repeatable)
         --timeout MS        handshake timeout (default 10000)
         --ping-interval S, --ping-timeout S, --reconnect, and interactive
         mode (stdin a terminal: prompt, /ping, /close, /binary): see
         netkit ws connect --help
         Exit 0 on a clean close with 1000, 1001 or 1005; 1 otherwise.`;
