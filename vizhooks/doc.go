// Package vizhooks holds tbviz's visualization methods (sub-packages cam,
// featuremaps, filters), rendering (render), image input (imageio) and the
// training-loop hook.
package vizhooks
