// Command finetune-hook re-trains the classifier head of tbviz's shipped
// CIFAR-10 model (examples/cifar10) on Fashion-MNIST with the native
// engine's gradients, and calls a vizhooks.Hook every -every steps, so the
// Grad-CAM, Grad-CAM++ and Score-CAM panels of a few held-out items can be
// watched sharpening over the steps in TensorBoard:
//
//	go run ./examples/finetune-hook -logdir /tmp/ft -steps 300 -every 50
//	tensorboard --logdir /tmp/ft
//
// The backbone (three convolutions and the first Dense layer) stays as
// trained on CIFAR-10; the head (Dense 64 -> 10) is re-initialised and
// trained with SGD on softmax cross-entropy, batches of -batch items drawn
// from a pool of -pool training items (28x28 gray, resized to 32x32 RGB
// with half-pixel bilinear). As the backbone is frozen, the pool's
// features at the head's input are computed once and each step feeds a
// batch of them to the head. Fashion-MNIST comes from Debian's
// dataset-fashion-mnist.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/tbviz/tbviz/vizhooks"
)

func main() {
	cfg := config{Log: os.Stdout}
	flag.StringVar(&cfg.Logdir, "logdir", "", "TensorBoard logdir to write (required)")
	flag.StringVar(&cfg.Data, "data", "/usr/share/datasets/fashion-mnist", "directory of the Fashion-MNIST idx files")
	flag.IntVar(&cfg.Steps, "steps", 300, "SGD steps")
	flag.IntVar(&cfg.Every, "every", 50, "call the hook every N steps")
	flag.IntVar(&cfg.Batch, "batch", 32, "batch size")
	flag.Float64Var(&cfg.LR, "lr", 0.1, "SGD learning rate")
	flag.IntVar(&cfg.Eval, "eval", 1000, "held-out test items for the accuracy")
	flag.IntVar(&cfg.Probes, "probes", 4, "held-out test items explained by the hook")
	flag.IntVar(&cfg.Pool, "pool", 6000, "training items the batches are drawn from (their backbone features are computed once)")
	methods := flag.String("methods", "gradcam,gradcam++,scorecam", "comma-separated CAM methods the hook writes")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed (head initialisation, batches)")
	policy := flag.String("policy", "block", `hook queue policy when the visualisation falls behind: "block" (keep every step) or "skip" (never wait)`)
	flag.Parse()
	cfg.Methods = strings.Split(*methods, ",")
	switch *policy {
	case "block":
		cfg.Policy = vizhooks.Block
	case "skip":
		cfg.Policy = vizhooks.Skip
	default:
		fmt.Fprintf(os.Stderr, "finetune-hook: -policy %q: want block or skip\n", *policy)
		os.Exit(2)
	}
	if cfg.Logdir == "" {
		fmt.Fprintln(os.Stderr, "finetune-hook: -logdir is required")
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := finetune(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "finetune-hook:", err)
		os.Exit(1)
	}
}
