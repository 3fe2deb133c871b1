#pragma once
// The page's own files, compiled in (cmake/embed_page.cmake writes them from
// src/present/page/assets/): the HTML template with its @NAME@ holes, the
// style sheet and the script, and the hashes the Content-Security-Policy
// allows them by.
namespace bnstep::page_assets {

extern const char* const template_;
extern const char* const style;
extern const char* const style_hash;
extern const char* const script;
extern const char* const script_hash;

}  // namespace bnstep::page_assets
