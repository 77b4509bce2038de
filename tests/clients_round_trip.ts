// Run by tests/test_clients.py: node round_trip.js API_URL INVENTORY_URL.
// The generated clients against real servers: every operation of examples/api.py,
// the inventory guide's, and the errors.
import * as api from "./api";
import * as inventory from "./inventory";

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
    if (error instanceof api.APIError || error instanceof inventory.APIError) {
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

async function main(): Promise<void> {
  await exampleApi(process.argv[2]);
  await inventoryGuide(process.argv[3]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
