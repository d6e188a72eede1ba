/*
 * static.h - files from the theme folder at "/" (falling back to the shared
 * shell folder), and from plugin UI folders
 * at "/plugins/<name>/", plus the generated "/practice.css". Paths are
 * checked segment by segment (no "..", dotfiles, backslashes or control
 * bytes) and the resolved real path must stay inside the served folder, so
 * a symlink cannot lead out of it. No directory listings. GET and HEAD only.
 */
#ifndef ATRIUM_STATIC_H
#define ATRIUM_STATIC_H

#include "request.h"

/* The folder under themes_dir with the shell every theme shares (HTML,
 * JS, base CSS). A theme's own file of the same name wins over it. */
#define STATIC_SHELL "shell"

/* Sets the theme folder (resolved once at start), with the shared shell
 * behind it. 0 or -1. */
int static_set_theme(const char *themes_dir, const char *theme);
/* Adds a plugin UI folder served at /plugins/<name>/. 0 or -1. */
int static_add_mount(const char *name, const char *dir);
/* Is `rel` (no leading slash) a safe relative path? 1/0. */
int static_path_safe(const char *rel);
void static_serve(struct request *req);
void static_free(void);

#endif
