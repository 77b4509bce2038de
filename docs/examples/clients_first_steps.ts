// docs/clients.md's TypeScript example, for the client `carafe client examples.api:app
// --lang typescript -o api.ts` writes. tests/test_clients.py type-checks it with tsc and
// runs it with node against a real server.
import { APIError, Client, Problem } from "./api";

export async function firstSteps(baseUrl: string): Promise<string[]> {
  const api = new Client({ baseUrl }); // e.g. "http://127.0.0.1:8000"
  const page = await api.listItems({ limit: 5, q: "kett" }); // a Page_Item_
  const item = await api.createItem({ body: { name: "cup", price: 3.5 } });
  const seen = [page.items[0].name, item.name];
  try {
    await api.readItem({ item_id: 999 });
  } catch (error) {
    if (error instanceof APIError) {
      seen.push(`${error.status}: ${(error.problem as Problem).detail}`);
    }
  }
  return seen;
}
