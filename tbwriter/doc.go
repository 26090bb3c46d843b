// Package tbwriter writes and reads TensorBoard event files without
// TensorFlow.
//
// A [Writer] appends summaries (scalars, images, text, histograms) to a new
// event file in a log directory, in exactly the form TensorBoard's own
// tf.summary API produces, so that `tensorboard --logdir DIR` shows them in
// its Scalars, Images, Text, Histograms and Distributions dashboards. A
// [Reader] iterates the events of one file, checking every checksum, and
// [ReadLogdir] decodes a whole log directory (every run, every tag) into plain
// Go values, collecting problems (checksum errors, truncated tails) instead of
// stopping at the first.
//
// # File format
//
// An event file is a sequence of records; each is
//
//	uint64 length (little-endian)
//	uint32 masked CRC-32C of the 8 length bytes
//	length bytes of data: a serialized tensorflow.Event
//	uint32 masked CRC-32C of the data
//
// where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first record of
// every file is an Event carrying file_version "brain.Event:2" and
// source_metadata.writer "tbviz". A Writer never writes SessionLog.START
// (TensorBoard discards data at later steps when it sees one), never appends
// to an existing file, and keeps every event regardless of step order.
//
// # Summary encodings
//
// Every value uses the tensor form with plugin metadata, as TensorFlow 2's
// tf.summary ops write it. The metadata (plugin name, display name,
// description, data class) is attached to the first event of each tag in a
// file and omitted afterwards, as TensorBoard's writers do.
//
//   - Scalars: plugin "scalars", a DT_DOUBLE scalar tensor. TensorFlow casts
//     to float32 before writing; tbviz keeps the full float64 value instead so
//     that large magnitudes do not overflow to ±Inf and NaN/±Inf are kept bit
//     for bit. TensorBoard reads both.
//   - Images: plugin "images", a DT_STRING vector [width, height, png...] with
//     width and height as decimal strings; several same-sized images may share
//     one event.
//   - Text: plugin "text", a DT_STRING scalar holding Markdown.
//   - Histograms: plugin "histograms", a DT_DOUBLE [k, 3] tensor of (left
//     edge, right edge, count) rows built like TensorBoard's histogram
//     summary_v2 (see [Buckets]).
package tbwriter
