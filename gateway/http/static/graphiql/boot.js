// Switchboard GraphiQL bootstrap. A separate file, not an inline <script>, so the page
// works under `script-src 'self'` (see gateway/graphiql.py csp_header()).
// Configuration comes from data-* attributes on #graphiql written by render_graphiql_html().
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.dataset.endpoint || "/graphql", window.location.href);
  endpoint.hash = "";

  var DEFAULT_QUERY =
    "# Switchboard GraphiQL\n" +
    "#\n" +
    "# Put your bearer token in the Headers tab\n" +
    "# below; this browser keeps it in localStorage.\n" +
    "# Run: Ctrl-Enter or the play button.\n" +
    "\n" +
    "query {\n" +
    "  __typename\n" +
    "}\n";

  // What a person needs after a 401: the answer alone ("invalid token") does not say that a
  // restarted demo signs with a new key, nor where fresh headers come from.
  var UNAUTHORIZED_HINT =
    "HTTP 401: the token is invalid or expired. Running the demo? Copy fresh headers from " +
    "the terminal running `python3 dev.py demo` into the Headers tab (every run signs its " +
    "tokens with a new key, so an earlier run's tokens are refused) or reload this page to " +
    "start from the current run's headers. Otherwise mint a new token at your identity " +
    "provider (docs/integrating.md).";

  function parseBody(response) {
    return response.text().then(function (text) {
      var body;
      try {
        body = JSON.parse(text);
      } catch (_) {
        body = {
          errors: [{ message: "HTTP " + response.status + ": " + text.slice(0, 500) }],
        };
      }
      if (response.status === 401 && body && typeof body === "object") {
        // The hint first, so it is the first line of the result pane; the answer follows as is.
        return Object.assign({ hint: UNAUTHORIZED_HINT }, body);
      }
      return body;
    });
  }

  // GraphQL over HTTP: always POST application/json, so mutations work and nothing
  // (least of all the token) ends up in a URL or an access log.
  function fetchOverHttp(params, headers) {
    return fetch(endpoint.href, {
      method: "POST",
      headers: Object.assign({ Accept: "application/json" }, headers, {
        "Content-Type": "application/json",
      }),
      body: JSON.stringify(params),
      credentials: "same-origin",
    }).then(parseBody);
  }

  function isSubscription(params, opts) {
    var doc = opts && opts.documentAST;
    if (!doc) {
      try {
        doc = GraphiQL.GraphQL.parse(params.query);
      } catch (_) {
        return false;
      }
    }
    var ops = doc.definitions.filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    var op = params.operationName
      ? ops.find(function (d) {
          return d.name && d.name.value === params.operationName;
        })
      : ops[0];
    return Boolean(op) && op.operation === "subscription";
  }

  // Subscriptions over the same path, graphql-transport-ws protocol. Browsers cannot set
  // WebSocket headers, so the header-editor object travels as the connection_init payload
  // (the server sees it as connection_params). One socket per subscription keeps it small.
  function subscribeOverWebSocket(params, headers) {
    return {
      subscribe: function (observer) {
        var url = new URL(endpoint.href);
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        var ws = new WebSocket(url.href, "graphql-transport-ws");
        var done = false;

        function finish(notify) {
          if (!done) {
            done = true;
            notify();
          }
          if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
        }
        function send(message) {
          ws.send(JSON.stringify(message));
        }

        ws.onopen = function () {
          send({ type: "connection_init", payload: headers });
        };
        ws.onmessage = function (event) {
          var msg;
          try {
            msg = JSON.parse(event.data);
          } catch (_) {
            finish(function () {
              observer.error(new Error("Malformed frame from " + url.href));
            });
            return;
          }
          if (msg.type === "connection_ack") {
            send({ id: "1", type: "subscribe", payload: params });
          } else if (msg.type === "ping") {
            send({ type: "pong" });
          } else if (msg.type === "next") {
            observer.next(msg.payload);
          } else if (msg.type === "error") {
            finish(function () {
              observer.next({ errors: msg.payload });
              observer.complete();
            });
          } else if (msg.type === "complete") {
            finish(function () {
              observer.complete();
            });
          }
        };
        ws.onclose = function (event) {
          finish(function () {
            if (event.code === 1000) {
              observer.complete();
            } else {
              observer.error(
                new Error("WebSocket closed: " + event.code + " " + (event.reason || "")),
              );
            }
          });
        };

        return {
          unsubscribe: function () {
            if (!done && ws.readyState === WebSocket.OPEN) send({ id: "1", type: "complete" });
            finish(function () {});
          },
        };
      },
    };
  }

  function fetcher(params, opts) {
    var headers = (opts && opts.headers) || {};
    return isSubscription(params, opts)
      ? subscribeOverWebSocket(params, headers)
      : fetchOverHttp(params, headers);
  }

  var plugins = window.GraphiQLPluginExplorer
    ? [window.GraphiQLPluginExplorer.explorerPlugin()]
    : [];

  // A page rendered with default headers (the demo's freshly minted tokens) names a storage
  // namespace derived from them: what the user edits persists across reloads within one run,
  // while a new run (new defaults) neither reads the earlier run's stale tokens nor keeps them.
  var RUN_PREFIX = "switchboard:run-";
  var namespace = root.dataset.storageNamespace || "";
  var storage;
  if (namespace) {
    var own = "switchboard:" + namespace;
    try {
      for (var i = window.localStorage.length - 1; i >= 0; i--) {
        var key = window.localStorage.key(i);
        if (key && key.indexOf(RUN_PREFIX) === 0 && key.indexOf(own + ":") !== 0) {
          window.localStorage.removeItem(key);
        }
      }
      storage = GraphiQL.createLocalStorage({ namespace: own });
    } catch (_) {
      // localStorage refused (a browser policy): GraphiQL's own handling applies
    }
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: plugins,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: root.dataset.defaultHeaders || undefined,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      storage: storage,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
    }),
  );
})();
