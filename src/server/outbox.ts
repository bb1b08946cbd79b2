// What a connection sends, with an eye on the socket's bufferedAmount: a client that reads too
// slowly loses the AI's new notes (never the note-off of a note it was sent, never a control
// message), and one that has stopped reading is closed.
import type { ServerMessage } from './protocol.ts';

/** The part of a ws WebSocket the outbox uses (a stub in the tests). */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
}

const OPEN = 1;

export interface OutboxOptions {
  dropAboveBytes: number;
  closeAboveBytes: number;
  /** Called once when bufferedAmount passes closeAboveBytes. */
  onStalled: () => void;
}

export class Outbox {
  /** AI notes dropped for backpressure (note-ons and their note-offs). */
  dropped = 0;
  private stalled = false;
  /** channel * 128 + note of the note-ons sent and not yet ended. */
  private readonly sounding = new Set<number>();
  /** ... and of the note-ons dropped, whose note-offs are dropped with them. */
  private readonly droppedOn = new Set<number>();

  constructor(private readonly socket: SocketLike, private readonly opts: OutboxOptions) {}

  get isOpen(): boolean {
    return this.socket.readyState === OPEN && !this.stalled;
  }

  /** Sends `msg` unless the socket is gone or it is an AI note the client is too slow for. */
  send(msg: ServerMessage): boolean {
    if (!this.isOpen) return false;
    const buffered = this.socket.bufferedAmount;
    if (buffered > this.opts.closeAboveBytes) {
      this.stalled = true;
      this.opts.onStalled();
      return false;
    }
    if (msg.type === 'noteon' || msg.type === 'noteoff') {
      const key = msg.channel * 128 + msg.note;
      if (msg.type === 'noteon') {
        if (buffered > this.opts.dropAboveBytes) {
          this.droppedOn.add(key);
          this.dropped++;
          return false;
        }
        this.droppedOn.delete(key);
        this.sounding.add(key);
      } else if (!this.sounding.delete(key) && this.droppedOn.delete(key)) {
        this.dropped++;
        return false;
      }
    }
    this.socket.send(JSON.stringify(msg));
    return true;
  }
}
