"""The call centre's web pages: the live board (公告栏) and the statistics page."""
