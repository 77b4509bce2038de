// Run by tests/test_clients.py: node round_trip.js API_URL INVENTORY_URL CONDUIT_URL EDGES_URL.
// The generated clients against real servers: every operation of examples/api.py,
// the inventory guide's, the Conduit example's (its envelopes, its Token scheme), the
// errors, docs/clients.md's examples (docs/examples/clients_first_steps.ts and
// clients_events.ts), and event streams: Conduit's live one, and a hand-written one.
import * as api from "./api";
import * as conduit from "./conduit";
import * as edges from "./edges";
import * as inventory from "./inventory";
import { nextComments } from "./events";
import { firstSteps } from "./first_steps";

// Node's own names, declared here rather than installing @types/node.
declare const process: { argv: string[]; exit(code: number): never };

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`failed: ${what}`);
  }
}

async function rejects(promise: Promise<unknown>): Promise<api.APIError> {
  try {
    await promise;
  } catch (error) {
    if (
      error instanceof api.APIError ||
      error instanceof inventory.APIError ||
      error instanceof conduit.APIError
    ) {
      return error;
    }
    throw error;
  }
  throw new Error("expected an APIError");
}

async function exampleApi(baseUrl: string): Promise<void> {
  const client = new api.Client({ baseUrl });
  const page: api.Page_Item_ = await client.listItems({ limit: 5, q: "KETT" });
  check(page.total === 1 && page.items[0].name === "kettle", "listItems");
  const created: api.Item = await client.createItem({ body: { name: "cup", price: 3.5, tags: ["k"] } });
  check(created.name === "cup" && created.price === 3.5, "createItem");
  check((await client.readItem({ item_id: created.id })).name === "cup", "readItem");
  check((await client.legacySearch({ name: "cup" }))[0].id === created.id, "legacySearch");
  const token = await client.login({ body: { username: "alice", password: "wonderland" } });
  client.headers["Authorization"] = `Bearer ${token.access_token}`;
  check((await client.me()).username === "alice", "me");
  const body: api.ItemIn = { name: "mug", price: 4 };
  const replaced = await client.replaceItem({ item_id: created.id, body });
  check(replaced.name === "mug" && replaced.tags?.length === 0, "replaceItem");
  await client.deleteItem({ item_id: created.id });
  const review = await client.createReview({ body: { item_id: 1, rating: 4 } });
  check(review.rating === 4 && review.comment === "", "createReview");
  const receipt = await client.contact({ body: { email: "ann@example.com", message: "hi" } });
  check(receipt.received && receipt.reply_to === "ann@example.com", "contact");

  const missing = await rejects(client.readItem({ item_id: created.id }));
  const problem = missing.problem as api.Problem;
  check(missing.status === 404 && problem.detail === `No item has the id ${created.id}.`, "404");
  check(missing.message === `404 No item has the id ${created.id}.`, "message");
  const invalid = await rejects(client.listItems({ limit: 1000 }));
  const errors = (invalid.problem as api.ValidationProblem).errors;
  check(invalid.status === 422 && errors[0].loc.join(".") === "query.limit", "422");
  console.log("api: ok");
}

async function inventoryGuide(baseUrl: string): Promise<void> {
  const client = new inventory.Client({ baseUrl, headers: { "x-editor": "ann" } });
  const saved = await client.itemViewPut({ item_id: 7, body: { name: "lamp", price: 30 } });
  check(saved.id === 7 && saved.name === "lamp", "itemViewPut");
  check((await client.itemViewGet({ item_id: 7 })).price === 30, "itemViewGet");
  check((await client.listItems()).length === 1, "listItems");
  const health = (await client.health()) as { pool_open: boolean };
  check(health.pool_open, "health");
  await client.itemViewDelete({ item_id: 7 });
  check((await rejects(client.itemViewGet({ item_id: 7 }))).status === 404, "gone");
  console.log("inventory: ok");
}

async function conduitExample(baseUrl: string): Promise<void> {
  const client = new conduit.Client({ baseUrl });
  const user: conduit.NewUser = { username: "ann", email: "ann@example.org", password: "ann-password" };
  const registered: conduit.UserOut = (await client.register({ body: { user } })).user;
  check(registered.username === "ann" && registered.bio === null, "register");
  const login = { email: user.email, password: user.password };
  const { token } = (await client.login({ body: { user: login } })).user;
  client.headers["Authorization"] = `Token ${token}`;
  check((await client.me()).user.email === "ann@example.org", "me");
  const changed = await client.updateMe({ body: { user: { bio: "Tea drinker" } } });
  check(changed.user.bio === "Tea drinker", "updateMe");
  const draft = { title: "Green tea", description: "d", body: "b", tagList: ["tea"] };
  const article: conduit.ArticleView = (await client.createArticle({ body: { article: draft } })).article;
  check(article.author.username === "ann", "createArticle");
  const { slug } = article;
  check((await client.getArticle({ slug })).article.body === "b", "getArticle");
  const listed = await client.listArticles({ tag: "tea", limit: 5 });
  check(listed.articlesCount === 1 && listed.articles[0].slug === slug, "listArticles");
  const edited = await client.updateArticle({ slug, body: { article: { body: "steeped" } } });
  check(edited.article.body === "steeped", "updateArticle");
  check((await client.favorite({ slug })).article.favoritesCount === 1, "favorite");
  check((await client.unfavorite({ slug })).article.favoritesCount === 0, "unfavorite");
  const comment = (await client.addComment({ slug, body: { comment: { body: "Nice" } } })).comment;
  check((await client.comments({ slug })).comments[0].body === "Nice", "comments");
  await client.deleteComment({ slug, comment_id: comment.id });
  check((await client.tags()).tags.join() === "tea", "tags");
  await client.register({ body: { user: { username: "bob", email: "bob@example.org", password: "bob-password" } } });
  check((await client.follow({ username: "bob" })).profile.following, "follow");
  check((await client.getProfile({ username: "bob" })).profile.following, "getProfile");
  check((await client.feed()).articlesCount === 0, "feed");
  check(!(await client.unfollow({ username: "bob" })).profile.following, "unfollow");
  await client.deleteArticle({ slug });

  const gone = await rejects(client.getArticle({ slug }));
  check(gone.status === 404 && "body" in (gone.problem as conduit.ConduitErrors).errors, "404");
  const wrong = { email: user.email, password: "not-the-password" };
  const refused = await rejects(client.login({ body: { user: wrong } }));
  const errors = (refused.problem as conduit.ConduitErrors).errors;
  check(refused.status === 422 && errors["email or password"][0] === "is invalid", "422");
  client.headers["Authorization"] = "Token forged";
  const forged = await rejects(client.me());
  check(forged.status === 401, "401");
  console.log("conduit: ok");
}

/** A fetch that says when a response's head has come (the stream is open from then). */
function watchedFetch(): { fetch: typeof fetch; opened: Promise<void> } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const watched: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    open();
    return response;
  };
  return { fetch: watched, opened };
}

async function conduitEvents(baseUrl: string): Promise<void> {
  const client = new conduit.Client({ baseUrl });
  const user = { username: "dee", email: "dee@example.org", password: "dee-password" };
  const { token } = (await client.register({ body: { user } })).user;
  client.headers["Authorization"] = `Token ${token}`;
  const draft = { title: "Matcha", description: "d", body: "b" };
  const { slug } = (await client.createArticle({ body: { article: draft } })).article;
  const head = watchedFetch();
  const reading = nextComments(new conduit.Client({ baseUrl, fetch: head.fetch }), slug, 2);
  await head.opened; // why posting now does not race the stream: see test_clients.py's NOTE
  const one = (await client.addComment({ slug, body: { comment: { body: "One" } } })).comment;
  const two = (await client.addComment({ slug, body: { comment: { body: "Two" } } })).comment;
  const seen = await reading; // docs/clients.md's example: it breaks out after two
  check(seen.map((c) => `${c.id} ${c.body}`).join() === `${one.id} One,${two.id} Two`, "events");
  check((await client.comments({ slug })).comments.length === 2, "served on after the break");
  const missing = await rejects(client.commentEvents({ slug: "no-such-tea" }).next());
  check(missing.status === 404 && "errors" in (missing.problem as object), "a missing article");
  console.log("events: ok");
}

// tests/test_clients.py's TRICKY: every rule of the WHATWG parser, sent one byte a chunk.
const TRICKY =
  "\ufeff: a byte order mark, then a comment: both ignored\r\n" +
  "event: note\r\ndata: first\r\ndata:  indented\r\ndata\r\nid: 7\r\nretry: 1500\r\n\r\n" +
  "data: é \u2028 中\rretry: soon\rid: 8\0\rcolour: blue\r\r" +
  "event: empty\nid\n\ndata:\n\n" +
  "data: the stream ends before a blank line: never dispatched\n";

/** A fetch that hands the body on one byte a chunk, however the socket delivered it. */
const byteByByte: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent < bytes.length) {
        controller.enqueue(bytes.slice(sent, ++sent));
      } else {
        controller.close();
      }
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
};

async function parsedEvents(baseUrl: string): Promise<void> {
  const client = new edges.Client({ baseUrl, fetch: byteByByte });
  const events: edges.ServerSentEvent[] = [];
  for await (const event of client.replay({ body: { text: TRICKY } })) {
    events.push(event);
  }
  const expected = [
    { event: "note", data: "first\n indented\n", id: "7", retry: 1500 },
    { event: "message", data: "é \u2028 中", id: "7", retry: 1500 },
    { event: "message", data: "", id: "", retry: 1500 },
  ];
  check(JSON.stringify(events) === JSON.stringify(expected), `parsed: ${JSON.stringify(events)}`);
  const last: edges.ServerSentEvent[] = [];
  for await (const event of client.replay({ body: { text: "data: last\n\r" } })) {
    last.push(event);
  }
  check(JSON.stringify(last) === '[{"event":"message","data":"last","id":""}]', "a last CR");
  console.log("parsed: ok");
}

async function main(): Promise<void> {
  await exampleApi(process.argv[2]);
  await inventoryGuide(process.argv[3]);
  await conduitExample(process.argv[4]);
  await conduitEvents(process.argv[4]);
  await parsedEvents(process.argv[5]);
  const seen = await firstSteps(process.argv[2]); // docs/clients.md's example
  check(seen.join("|") === "kettle|cup|404: No item has the id 999.", `first steps: ${seen}`);
  console.log("docs: ok");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
