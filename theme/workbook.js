// The workbook's additions to mdBook's page script (book.toml:
// additional-js). Runs after mdBook's book.js has highlighted the code.
(function () {
    'use strict';

    // Code included by anchor from inside an impl block or a call keeps its
    // indentation in the file (mdBook's include by anchor does not
    // dedent): remove the indentation every line of a Rust block shares.
    document.querySelectorAll('pre > code.language-rust').forEach(function (code) {
        var indent = Infinity;
        code.textContent.split('\n').forEach(function (line) {
            if (line.trim() !== '') {
                indent = Math.min(indent, line.length - line.trimStart().length);
            }
        });
        if (indent === 0 || indent === Infinity) {
            return;
        }
        // The highlighted text is spread over many text nodes: walk them in
        // order, dropping up to `indent` spaces at the start of each line.
        var walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
        var drop = indent;
        for (var node = walker.nextNode(); node; node = walker.nextNode()) {
            var out = '';
            for (var i = 0; i < node.data.length; i++) {
                var c = node.data[i];
                if (c === '\n') {
                    drop = indent;
                    out += c;
                } else if (drop > 0 && c === ' ') {
                    drop -= 1;
                } else {
                    drop = 0;
                    out += c;
                }
            }
            node.data = out;
        }
    });

    // Terminal blocks wrap (theme/workbook.css); so that a wrapped line is
    // not read as a line of its own, each line becomes a box whose
    // continuation lines hang two columns in from where the line starts.
    // The newlines stay as they are, so copying the block copies the lines.
    document.querySelectorAll('pre > code.language-text').forEach(function (code) {
        if (code.children.length !== 0) {
            return;
        }
        var lines = code.textContent.split('\n');
        code.textContent = '';
        lines.forEach(function (line, i) {
            if (i > 0) {
                code.appendChild(document.createTextNode('\n'));
            }
            if (line === '') {
                return;
            }
            var hang = line.length - line.trimStart().length + 2;
            var box = document.createElement('span');
            box.className = 'output-line';
            box.style.paddingLeft = hang + 'ch';
            box.style.textIndent = -hang + 'ch';
            box.textContent = line;
            code.appendChild(box);
        });
    });

    // Inline code may break at its spaces only: a browser also breaks after
    // a hyphen, which splits `--bytes` and `-p`. Each word goes into a span
    // that does not wrap (theme/workbook.css); the spaces stay between them.
    document.querySelectorAll('.content :not(pre) > code').forEach(function (code) {
        if (code.children.length !== 0 || !/[\s-]/.test(code.textContent)) {
            return;
        }
        var parts = code.textContent.split(/(\s+)/);
        code.textContent = '';
        parts.forEach(function (part) {
            if (part === '') {
                return;
            }
            if (/^\s+$/.test(part)) {
                code.appendChild(document.createTextNode(part));
            } else {
                var word = document.createElement('span');
                word.className = 'nowrap-word';
                word.textContent = part;
                code.appendChild(word);
            }
        });
    });
})();
