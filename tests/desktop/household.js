// Injected by test_screen_pop.py's household test before the page's scripts (never served).
// The gateway's screen pop matches a contact's customer by its CCaaS profile: one customer at
// most (DESKTOP-CONTRACT.md, "Note from desktest"). To show the page a household match, this
// wraps the page's own fetch of its screenPops stream and adds, to each pop of a household
// member, the other members as the real gateway answers for them: the page's own selection (the
// fragment its subscription spreads on `customers`), the page's own token. Nothing else of the
// stream is touched.
(() => {
  const members = __MEMBERS__;
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await original(input, init);
    const url = typeof input === "string" ? input : input.url;
    if (!url.endsWith("/graphql/stream") || !init || typeof init.body !== "string") return response;
    const sent = JSON.parse(init.body);
    const spread = /customers\s*\{\s*\.\.\.(\w+)/.exec(sent.query || "");
    if (!spread || !response.ok) return response;
    const fragments = sent.query.slice(sent.query.indexOf("fragment "));
    const query = `query DesktestHousehold($id: ID!) { customer(id: $id) { ...${spread[1]} } }\n${fragments}`;
    const headers = { "content-type": "application/json", authorization: init.headers.authorization };
    const read = async (id) => {
      const answer = await original("/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables: { id } }),
      });
      return (await answer.json()).data.customer;
    };
    const widen = async (block) => {
      const lines = block.split("\n");
      const at = lines.findIndex((line) => line.startsWith("data: "));
      if (at < 0) return block;
      const payload = JSON.parse(lines[at].slice(6));
      const pop = payload.data && payload.data.screenPops;
      if (!pop || pop.customers.length !== 1 || !members.includes(pop.customers[0].id)) return block;
      for (const id of members) {
        if (id !== pop.customers[0].id) pop.customers.push(await read(id));
      }
      lines[at] = "data: " + JSON.stringify(payload);
      return lines.join("\n");
    };
    let buffer = "";
    const encoder = new TextEncoder();
    const body = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream({
        async transform(chunk, controller) {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            controller.enqueue(encoder.encode((await widen(block)) + "\n\n"));
          }
        },
        flush(controller) {
          if (buffer) controller.enqueue(encoder.encode(buffer));
        },
      }),
    );
    return new Response(body, { status: response.status, headers: response.headers });
  };
})();
