// Decoding the binary packs of /activations and /kernels (format: cnn_tb/contract/packs.py).

export const PACK_MAGIC = "CTB1";

/**
 * Decode an uncompressed pack: "CTB1", uint32 LE header length, JSON header,
 * raw array bytes.
 * @param {ArrayBuffer} buffer
 * @returns {{header: object, arrays: Map<string, object>, layers: Map<string, object>}}
 */
export function decodePack(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 8) throw new Error("pack is truncated");
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== PACK_MAGIC) throw new Error(`unknown pack format ${JSON.stringify(magic)}`);
  const hlen = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, hlen)));
  const body = 8 + hlen;
  const arrays = new Map();
  const layers = new Map();
  for (const e of header.arrays || []) {
    const start = body + e.offset;
    let data;
    if (e.dtype === "float32") data = new Float32Array(buffer.slice(start, start + e.nbytes));
    else data = new Uint8Array(buffer, start, e.nbytes);
    const entry = { ...e, data };
    arrays.set(e.name, entry);
    const cut = e.name.lastIndexOf("/");
    const layer = e.name.slice(0, cut);
    const kind = e.name.slice(cut + 1);
    if (!layers.has(layer)) layers.set(layer, {});
    layers.get(layer)[kind] = entry;
  }
  return { header, arrays, layers };
}
