"""Panel components with a browser half (``*.js``) and their styles (``*.css``)."""
