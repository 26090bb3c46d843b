# UNTESTED HERE: TensorFlow cannot be installed on the machines that build
# tbviz, so this file is documentation, never run by `make test`.
#
# A Keras callback that exports a SavedModel at the end of every epoch into
# EXPORT_DIR/epoch_<NN>, for `tbviz watch` to pick up:
#
#   tbviz watch --logdir runs/viz --images cat.png --methods gradcam,layercam runs/export
#   tensorboard --logdir runs
#
# tbviz reads the step from the directory name (epoch_05 -> step 5) and
# reads an export only once it is complete and its files have stopped
# changing, so writing in place is safe. Writing to a temporary name and
# renaming it (as below) is still better: tbviz then never even sees a
# half-written export, and a crash of the training job leaves none behind.
import os
import shutil

import tensorflow as tf


class ExportEveryEpoch(tf.keras.callbacks.Callback):
    """Exports the model as a SavedModel into export_dir/epoch_NN."""

    def __init__(self, export_dir, every=1):
        super().__init__()
        self.export_dir = export_dir
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        final = os.path.join(self.export_dir, "epoch_%02d" % (epoch + 1))
        # ".tmp-..." is a hidden name: tbviz watch skips hidden directories.
        tmp = os.path.join(self.export_dir, ".tmp-epoch_%02d" % (epoch + 1))
        shutil.rmtree(tmp, ignore_errors=True)
        if hasattr(self.model, "export"):  # Keras 3: inference-only SavedModel
            self.model.export(tmp)
        else:  # tf.keras 2.x
            tf.saved_model.save(self.model, tmp)
        os.replace(tmp, final)


if __name__ == "__main__":
    (x, y), _ = tf.keras.datasets.cifar10.load_data()
    x = x[:2000].astype("float32") / 255.0
    y = y[:2000]
    model = tf.keras.Sequential([
        tf.keras.Input((32, 32, 3)),
        tf.keras.layers.Conv2D(32, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(64, 3, activation="relu"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10),
    ])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    os.makedirs("runs/export", exist_ok=True)
    model.fit(x, y, epochs=5, callbacks=[
        ExportEveryEpoch("runs/export"),
        tf.keras.callbacks.TensorBoard("runs/train"),
    ])
