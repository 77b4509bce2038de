// docs/clients.md's event-stream example, for the client `carafe client
// examples.conduit.app:app --lang typescript -o conduit.ts` writes. tests/test_clients.py
// type-checks it with tsc and runs it with node against a real Conduit server.
import { Client, CommentView } from "./conduit";

/** The next `count` comments posted on an article, read from its event stream. */
export async function nextComments(api: Client, slug: string, count: number): Promise<CommentView[]> {
  const comments: CommentView[] = [];
  for await (const event of api.commentEvents({ slug })) {
    if (event.event === "comment") {
      comments.push(JSON.parse(event.data) as CommentView);
      if (comments.length === count) {
        break; // leaving the loop cancels the stream: the connection is let go
      }
    }
  }
  return comments;
}
