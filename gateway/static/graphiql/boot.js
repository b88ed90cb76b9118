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

  function parseBody(response) {
    return response.text().then(function (text) {
      try {
        return JSON.parse(text);
      } catch (_) {
        return {
          errors: [{ message: "HTTP " + response.status + ": " + text.slice(0, 500) }],
        };
      }
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

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: plugins,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: root.dataset.defaultHeaders || undefined,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
    }),
  );
})();
