/* SVG line charts: see svg.h. */
#include "optimal/svg.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

enum { W = 780, H = 440, ML = 64, MR = 250, MT = 40, MB = 56 };

static const char *const palette[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8",
};

static double xpos(const ttc_svg_chart *c, double x, double x0, double x1) {
    double v = c->log2x ? log2(x) : x, a = c->log2x ? log2(x0) : x0, b = c->log2x ? log2(x1) : x1;
    double t = b > a ? (v - a) / (b - a) : 0.5;
    return ML + t * (W - ML - MR);
}

static double ypos(double y, double y0, double y1) {
    double t = y1 > y0 ? (y - y0) / (y1 - y0) : 0.5;
    return H - MB - t * (H - MT - MB);
}

/* A "nice" tick step near range/5: 1, 2 or 5 times a power of ten. */
static double nice_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

void ttc_svg_line_chart(ttc_buf *o, const ttc_svg_chart *c) {
    double x0 = c->x[0], x1 = c->x[c->n_x - 1];
    double y0 = c->ymin, y1 = c->ymax;
    if (y0 == y1) {
        y0 = INFINITY; y1 = -INFINITY;
        for (int s = 0; s < c->n_series; s++)
            for (int i = 0; i < c->n_x; i++)
                if (!isnan(c->series[s].y[i])) {
                    y0 = fmin(y0, c->series[s].y[i]);
                    y1 = fmax(y1, c->series[s].y[i]);
                }
        if (!isfinite(y0)) { y0 = 0; y1 = 1; }
        bool unit = y0 >= 0 && y1 <= 1; /* accuracies: stay inside [0, 1] */
        double pad = fmax((y1 - y0) * 0.08, 0.05);
        y0 -= pad; y1 += pad;
        if (unit) { y0 = fmax(y0, 0); y1 = fmin(y1, 1); }
        double st = nice_step(y1 - y0);
        y0 = floor(y0 / st) * st; y1 = ceil(y1 / st) * st;
    }
    ttc_buf_printf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                      "viewBox=\"0 0 %d %d\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"12\">\n",
                   W, H, W, H);
    ttc_buf_printf(o, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    ttc_buf_printf(o, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", ML);
    ttc_buf_xml(o, c->title ? c->title : "");
    ttc_buf_printf(o, "</text>\n");
    /* grid and y ticks */
    double st = nice_step(y1 - y0);
    for (double v = ceil(y0 / st) * st; v <= y1 + st * 1e-6; v += st) {
        double y = ypos(v, y0, y1);
        ttc_buf_printf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                       ML, y, W - MR, y);
        ttc_buf_printf(o, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 6, y + 4,
                       fabs(v) < st * 1e-6 ? 0.0 : v);
    }
    /* x ticks at every x value */
    for (int i = 0; i < c->n_x; i++) {
        double x = xpos(c, c->x[i], x0, x1);
        ttc_buf_printf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f0f0f0\"/>\n",
                       x, MT, x, H - MB);
        ttc_buf_printf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, H - MB + 16,
                       c->x[i]);
    }
    ttc_buf_printf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
                   ML, MT, W - ML - MR, H - MT - MB);
    ttc_buf_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 14);
    ttc_buf_xml(o, c->xlabel ? c->xlabel : "");
    ttc_buf_printf(o, "</text>\n<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">",
                   (MT + H - MB) / 2);
    ttc_buf_xml(o, c->ylabel ? c->ylabel : "");
    ttc_buf_printf(o, "</text>\n");
    /* series: polylines broken at NAN, markers, legend */
    int n_pal = (int)(sizeof palette / sizeof palette[0]);
    for (int s = 0; s < c->n_series; s++) {
        const ttc_svg_series *se = &c->series[s];
        const char *col = palette[s % n_pal];
        bool open = false;
        for (int i = 0; i < c->n_x; i++) {
            if (isnan(se->y[i])) {
                if (open) ttc_buf_printf(o, "\"/>\n");
                open = false;
                continue;
            }
            if (!open)
                ttc_buf_printf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                               col, se->dashed ? " stroke-dasharray=\"6,4\"" : "");
            ttc_buf_printf(o, "%.1f,%.1f ", xpos(c, c->x[i], x0, x1), ypos(se->y[i], y0, y1));
            open = true;
        }
        if (open) ttc_buf_printf(o, "\"/>\n");
        for (int i = 0; i < c->n_x; i++)
            if (!isnan(se->y[i]))
                ttc_buf_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                               xpos(c, c->x[i], x0, x1), ypos(se->y[i], y0, y1), col);
        int ly = MT + 10 + s * 18;
        ttc_buf_printf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                       W - MR + 12, ly, W - MR + 36, ly, col, se->dashed ? " stroke-dasharray=\"6,4\"" : "");
        ttc_buf_printf(o, "<text x=\"%d\" y=\"%d\">", W - MR + 42, ly + 4);
        ttc_buf_xml(o, se->name);
        ttc_buf_printf(o, "</text>\n");
    }
    ttc_buf_printf(o, "</svg>\n");
}
