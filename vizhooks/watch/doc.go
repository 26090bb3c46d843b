// Package watch follows a training run's output directory and writes
// visualizations of every new SavedModel export or TF checkpoint into a
// TensorBoard logdir, each at its own step. `tbviz watch` is built on it.
//
// [Watch] finds items, waits until each is complete and stable, hands it
// to a [Processor] with a fresh event writer, publishes the writer's file
// into the logdir and records the item in a state file. The Processor is
// the only part that knows about models; tests and other tools plug in
// their own.
//
// # Items
//
// A SavedModel is a directory holding saved_model.pb (or .pbtxt); it is
// complete when variables/variables.index and every shard
// variables.data-K-of-N, K < N, are present (or when it has no variables/
// directory at all). With Config.Checkpoints, a TF checkpoint is a prefix X
// with X.index and every X.data-K-of-N: tf.train.CheckpointManager's
// ckpt-1200, Keras save_weights in TF format. The CheckpointManager's
// "checkpoint" text file is not an item, nor is anything under a hidden
// directory, TensorFlow's sharded-save temporaries (*_temp, *_temp_*) or
// Estimator's export/temp-*. Directories are searched recursively; a
// SavedModel's own sub-directories are not.
//
// # Half-written items
//
// An item is read only when complete and when the names, sizes and
// modification times of all its files have not changed for Config.Settle
// (1 s by default). Its bundle index is then parsed and every entry checked
// to lie within its data shard before the Processor runs. If that or the
// Processor fails, the item is tried again after a backoff (Config.Backoff,
// doubling) up to Config.Retries times, then recorded as Failed and
// reported; the other items go on. A Failed item is tried again only when
// its files change. If the item's files change while it is processed, the
// results are discarded and it is processed again once stable; if it is
// deleted, that is reported and nothing is recorded.
//
// # Steps
//
// The step of an item comes from, in this order of precedence:
//
//  1. Config.StepRegex, matched against the item's path relative to
//     Config.Dir ('/' separated): its group named "step", or its only group;
//  2. the item's path, by [StepFromName], innermost name first:
//     ckpt-1200, model.ckpt-1200, step_1200, epoch_05, iter-3, a name that
//     is a number (Estimator's export/1699999999), and for the innermost
//     name a trailing number (cp-0005.ckpt);
//  3. Config.BundleStep: a step variable stored in the bundle (step,
//     global_step, optimizer/iter, save_counter);
//  4. a counter: one more than the largest counter step recorded, skipping
//     steps already written.
//
// Each step is written once: an item whose step was already written, or
// is being written, by another item is recorded as Duplicate and
// reported. Config.Every thins items out by step distance.
//
// # Order
//
// Items are processed in the order they become ready (items that become
// ready together: by step, then path), by Config.Workers workers, and each
// is written at its own step, so TensorBoard shows them in step order
// whatever order they arrived in. Memory does not grow with the number of
// items waiting: a waiting item is a path and a few numbers, and at most
// Workers items are loaded at a time.
//
// # Restart safety
//
// The state file (Config.State, default LOGDIR/.tbviz-watch.json, replaced
// atomically: temporary file, fsync, rename, fsync of the directory)
// records every item's outcome; a lock file next to it keeps a second
// watcher away. A Processor writes into a fresh event file in a private
// scratch directory; once it returns, Watch records the item as
// "publishing" with the final file names, moves the files into the run
// directory (rename, or copy to a hidden temporary name and rename, so
// that TensorBoard never sees a partial file), and records the item as
// Done. On start, an item left "publishing" is Done if all its files are
// in place and is otherwise forgotten, its files removed. Hence after any
// crash, kill -9 included, and a restart, each item's events appear in the
// logdir exactly once: never repeated, never skipped. Published files are
// named events.out.tfevents.<unix time>.<host>.watch-<sequence>, so their
// names sort in publication order, the order TensorBoard reads them in.
//
// Cancelling the context (Ctrl-C in tbviz watch) abandons the items being
// processed (they are processed again on the next start), saves the state
// and returns nil. Nothing half-written is ever published, so there is no
// writer to flush.
package watch
