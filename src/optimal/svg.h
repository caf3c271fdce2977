/* SVG line charts for the experiment report: accuracy versus budget with a
 * log2 x axis, one line per method, a legend. Self-contained SVG 1.1. */
#ifndef TTC_OPTIMAL_SVG_H
#define TTC_OPTIMAL_SVG_H
#include <stdbool.h>
#include "base/buf.h"

typedef struct ttc_svg_series {
    const char  *name;
    const float *y;     /* one value per x; NAN leaves a gap */
    bool         dashed;
} ttc_svg_series;

typedef struct ttc_svg_chart {
    const char   *title, *xlabel, *ylabel;
    const double *x;    /* ascending; > 0 when log2x */
    int           n_x;
    bool          log2x;
    float         ymin, ymax;   /* ymin == ymax: fit to the data */
    const ttc_svg_series *series;
    int           n_series;
} ttc_svg_chart;

/* Appends the chart as a complete <svg> document to out. */
void ttc_svg_line_chart(ttc_buf *out, const ttc_svg_chart *c);
#endif
